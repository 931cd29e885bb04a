/** A location in a source file; `line` and `col` are 1-based: the `file:line:col` of a problem. */
export interface SourcePosition {
  file: string;
  line: number;
  col: number;
}

/** One problem found in user input, located in a file when it comes from one. */
export interface Problem {
  /** Where the problem is; absent for problems with flags or the command line. */
  pos?: SourcePosition;
  /** What is wrong and what is expected, as one sentence without a trailing period. */
  message: string;
}

/** Formats a problem as `file:line:col: message` (or just the message when unlocated). */
export function formatProblem(p: Problem): string {
  return p.pos ? `${p.pos.file}:${p.pos.line}:${p.pos.col}: ${p.message}` : p.message;
}

/**
 * A mistake in the user's input (inventory or command line). The CLI prints every problem
 * on its own line, without a stack trace, and exits with status 2.
 */
export class UserError extends Error {
  readonly problems: Problem[];
  constructor(problems: Problem[] | string) {
    const list = typeof problems === "string" ? [{ message: problems }] : problems;
    super(list.map(formatProblem).join("\n"));
    this.name = "UserError";
    this.problems = list;
  }
}
