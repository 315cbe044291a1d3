/**
 * Shape checks for values read back from JSON or a database (the sticky stores' records), and
 * the words their "set aside" messages use for a value of the wrong type.
 *
 * @module
 */

/**
 * True for an object that is neither null nor a list.
 *
 * @example
 * ```ts
 * isPlainObject({ version: 1 }); // true
 * isPlainObject([1]); // false
 * ```
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * What a value is, for a message: "null", "missing", "a list", "a string", ….
 *
 * @example
 * ```ts
 * `its "servers" is ${describeType([])}, not an object`; // its "servers" is a list, not an object
 * ```
 */
export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "missing";
  if (Array.isArray(value)) return "a list";
  return `a ${typeof value}`;
}
