/**
 * The `images:` section (checked and normalised by `images.ts`).
 * A fragment of the inventory's JSON Schema, assembled by `schema.ts` (references name
 * definitions of any fragment, as `#/definitions/NAME`).
 */
import { IMAGE_FORMATS } from "./model.js";

/** Top-level keys of this section. */
export const imagesProperties = {
  images: {
    description:
      "Keel extension: disk images that machines are made from, by name (a DNS label); a host's vm.image names one.",
    type: "object",
    propertyNames: { $ref: "#/definitions/name" },
    additionalProperties: { $ref: "#/definitions/image" },
  },
} as const;

/** Definitions of this section. */
export const imagesDefinitions = {
  imageFormat: {
    description: `Format of the image file (qemu-img's name): ${IMAGE_FORMATS.join(", ")} (default qcow2).`,
    enum: [...IMAGE_FORMATS],
  },
  imageDigest: {
    description: "A digest of the image file in hexadecimal (any case).",
    type: "string",
  },
  image: {
    description:
      "A disk image: where it comes from (url or path, exactly one), its digest (sha256 or sha1, exactly one) and its format.",
    type: "object",
    additionalProperties: false,
    properties: {
      url: {
        description:
          "http:// or https:// URL the image is fetched from (no user:password@). Not together with path.",
        type: "string",
        minLength: 1,
      },
      path: {
        description:
          "File on the machine that runs Keel (~/ and paths relative to the inventory are resolved). Not together with url.",
        type: "string",
        minLength: 1,
      },
      sha256: {
        $ref: "#/definitions/imageDigest",
        description: "SHA-256 of the file: 64 hexadecimal digits (any case). Not together with sha1.",
      },
      sha1: {
        $ref: "#/definitions/imageDigest",
        description:
          "SHA-1 of the file, for publishers that give only that: 40 hexadecimal digits. Not together with sha256.",
      },
      format: { $ref: "#/definitions/imageFormat" },
    },
  },
} as const;
