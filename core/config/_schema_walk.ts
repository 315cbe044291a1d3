/**
 * Reads the shape of a config schema at a path, so that an unknown key can
 * be compared with the keys allowed where it was written.
 *
 * @module
 */
import { z } from "zod";
import type { PathSegment } from "./problems.ts";

/** How deep wrappers (optional, default, pipe…) are unwrapped; schemas here nest a few levels. */
const MAX_UNWRAP_DEPTH = 16;

/** Strips optional/default/nullable/pipe wrappers down to the schema that holds keys or items. */
function unwrap(schema: z.ZodType, depth = 0): z.ZodType {
  if (depth > MAX_UNWRAP_DEPTH) return schema;
  if (
    schema instanceof z.ZodOptional || schema instanceof z.ZodDefault ||
    schema instanceof z.ZodNullable || schema instanceof z.ZodPrefault ||
    schema instanceof z.ZodReadonly
  ) {
    return unwrap(schema.unwrap() as z.ZodType, depth + 1);
  }
  if (schema instanceof z.ZodPipe) {
    const input = unwrap(schema.in as z.ZodType, depth + 1);
    if (
      input instanceof z.ZodObject || input instanceof z.ZodArray || input instanceof z.ZodRecord
    ) {
      return input;
    }
    return unwrap(schema.out as z.ZodType, depth + 1);
  }
  return schema;
}

/** The schema of the value at `path`, if the path leads anywhere. */
function schemaAt(schema: z.ZodType, path: readonly PathSegment[]): z.ZodType | undefined {
  let current: z.ZodType | undefined = unwrap(schema);
  for (const segment of path) {
    if (current instanceof z.ZodObject && typeof segment === "string") {
      const shape = current.shape as Record<string, z.ZodType>;
      current = Object.hasOwn(shape, segment) ? shape[segment] : undefined;
    } else if (current instanceof z.ZodArray) {
      current = current.element as z.ZodType;
    } else if (current instanceof z.ZodRecord) {
      current = current.valueType as z.ZodType;
    } else {
      return undefined;
    }
    if (current === undefined) return undefined;
    current = unwrap(current);
  }
  return current;
}

/** The keys an object schema allows at `path` (empty when there is no object there). */
export function keysAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  const target = schemaAt(schema, path);
  return target instanceof z.ZodObject ? Object.keys(target.shape) : [];
}

/** The keys an object schema at `path` requires: those whose schema refuses a missing value. */
export function requiredKeysAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  const target = schemaAt(schema, path);
  if (!(target instanceof z.ZodObject)) return [];
  const shape = target.shape as Record<string, z.ZodType>;
  return Object.keys(shape).filter((key) => !shape[key]?.safeParse(undefined).success);
}

/**
 * Every key path a schema accepts, for comparing a schema with its
 * documentation: `servers`, `servers[].port`, `servers[].pool.max_total`,
 * `relay.max_reservations`. A list of mappings is written `name[]`; mappings
 * with free keys (`plugins`) and lists of values are leaves.
 *
 * @example
 * ```ts
 * keyPaths(z.object({ a: z.object({ b: z.number() }) })); // ["a", "a.b"]
 * ```
 */
export function keyPaths(schema: z.ZodType): string[] {
  const paths: string[] = [];
  const visit = (current: z.ZodType, prefix: string, depth: number) => {
    const inner = unwrap(current);
    if (!(inner instanceof z.ZodObject) || depth > MAX_UNWRAP_DEPTH) return;
    for (const [key, child] of Object.entries(inner.shape as Record<string, z.ZodType>)) {
      const path = prefix === "" ? key : `${prefix}.${key}`;
      paths.push(path);
      const value = unwrap(child);
      if (value instanceof z.ZodArray) visit(value.element as z.ZodType, `${path}[]`, depth + 1);
      else visit(value, path, depth + 1);
    }
  };
  visit(schema, "", 0);
  return paths;
}

/** A nested section of an object: a key holding an object, or a list of objects. */
export interface Section {
  readonly name: string;
  readonly keys: readonly string[];
  /** True when the section is a list of objects (`servers`). */
  readonly list: boolean;
}

/** The sections directly inside the object at `path`, to say where a misplaced key belongs. */
export function sectionsAt(schema: z.ZodType, path: readonly PathSegment[]): Section[] {
  const target = schemaAt(schema, path);
  if (!(target instanceof z.ZodObject)) return [];
  const sections: Section[] = [];
  for (const [name, child] of Object.entries(target.shape as Record<string, z.ZodType>)) {
    const inner = unwrap(child);
    if (inner instanceof z.ZodObject) {
      sections.push({ name, keys: Object.keys(inner.shape), list: false });
    } else if (inner instanceof z.ZodArray) {
      const element = unwrap(inner.element as z.ZodType);
      if (element instanceof z.ZodObject) {
        sections.push({ name, keys: Object.keys(element.shape), list: true });
      }
    }
  }
  return sections;
}
