/**
 * The part of the test runner's context the compliance suites use. Deno's
 * `TestContext` fits it, and so does any runner with named, nestable steps;
 * naming it here keeps the core free of runtime types.
 *
 * @module
 */

/** One step, as the suites declare it. */
export interface StepDefinition {
  /** The step's name in the report. */
  readonly name: string;
  /** The step's body; it may run nested steps on its own context. */
  readonly fn: (t: TestContext) => void | Promise<void>;
  /** Skip the step (reported as ignored). */
  readonly ignore?: boolean;
}

/** A test context that runs named steps. */
export interface TestContext {
  /** Runs a step; resolves to whether it passed. */
  step(definition: StepDefinition): Promise<boolean>;
  /** Runs a named step; resolves to whether it passed. */
  step(name: string, fn: (t: TestContext) => void | Promise<void>): Promise<boolean>;
}
