/**
 * Where the engine of `keel serve` gets its inventory: the file, loaded as every command loads
 * it (`readInventoryText` and `loadInventoryText`, the two halves of `loadInventory`) (with the addresses and MACs of `keel.lock` beside it; serve never
 * writes the lock), and the triggers of a reload: SIGHUP and, with `watch`, changes of the file.
 */
import { type FSWatcher, readFileSync, watch } from "node:fs";
import path from "node:path";
import { loadInventoryText, readInventoryText } from "../inventory/load.js";
import type { Inventory } from "../inventory/model.js";
import type { Clock } from "./clock.js";

/** Default debounce of file-change events before a reload, ms (editors write in several steps). */
export const DEFAULT_WATCH_DEBOUNCE_MS = 250;

/** How a reload is triggered. */
export interface TriggerOptions {
  /** Reload when the file changes (fs.watch on its directory, debounced). */
  watch?: boolean;
  /** Debounce of file changes, ms (default 250). */
  watchDebounceMs?: number;
  /** Reload on SIGHUP. */
  sighup?: boolean;
}

/** The inventory file of a serve engine: loading it, knowing whether it changed, and its reload triggers. */
export class InventorySource {
  /** The text of the file when it was last loaded successfully; undefined: reload whatever it holds. */
  private lastText: string | undefined;
  private watcher: FSWatcher | undefined;
  private watchTimer: unknown;
  private onSighup: (() => void) | undefined;

  constructor(
    readonly file: string,
    private readonly clock: Clock,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * Loads the file as `loadInventory` does and remembers the text it loaded (read once, so the
   * text remembered is the text loaded).
   * @throws UserError as `loadInventory` (located problems, or the file cannot be read).
   */
  load(): Inventory {
    const text = readInventoryText(this.file);
    const inv = loadInventoryText(this.file, text);
    this.lastText = text;
    return inv;
  }

  /** True when the file holds the text last loaded. */
  unchanged(): boolean {
    const text = this.readText();
    return text !== undefined && text === this.lastText;
  }

  /** Forgets the text last loaded: the next `unchanged()` is false (after a rejected reload). */
  forget(): void {
    this.lastText = undefined;
  }

  /** The file's text, or undefined when it cannot be read (`load` then says why). */
  private readText(): string | undefined {
    try {
      return readFileSync(this.file, "utf8");
    } catch {
      return undefined;
    }
  }

  /** Calls `reload` on the triggers `opts` asks for, until `stop()`. */
  start(opts: TriggerOptions, reload: () => void): void {
    if (opts.watch) this.startWatch(opts.watchDebounceMs ?? DEFAULT_WATCH_DEBOUNCE_MS, reload);
    if (opts.sighup) {
      this.onSighup = () => {
        this.log("SIGHUP: reloading the inventory");
        reload();
      };
      process.on("SIGHUP", this.onSighup);
    }
  }

  /** Stops watching and listening for SIGHUP. */
  stop(): void {
    if (this.watchTimer !== undefined) this.clock.clearTimeout(this.watchTimer);
    this.watcher?.close();
    this.watcher = undefined;
    if (this.onSighup) process.removeListener("SIGHUP", this.onSighup);
    this.onSighup = undefined;
  }

  private startWatch(debounceMs: number, reload: () => void): void {
    const file = path.resolve(this.file);
    const base = path.basename(file);
    try {
      // the directory, not the file: editors replace the file (rename), which ends a file watch
      this.watcher = watch(path.dirname(file), (_event, name) => {
        if (name !== null && name.toString() !== base) return;
        if (this.watchTimer !== undefined) this.clock.clearTimeout(this.watchTimer);
        this.watchTimer = this.clock.setTimeout(() => {
          this.watchTimer = undefined;
          reload();
        }, debounceMs);
      });
      this.watcher.on("error", (e) => this.log(`watching ${file} failed (${e.message}); reload with SIGHUP`));
    } catch (e) {
      this.log(`cannot watch ${file} (${(e as Error).message}); reload with SIGHUP`);
    }
  }
}
