/**
 * The part of the test runner's context the compliance suites use. Deno's
 * `TestContext` fits it, and so does any runner with named, nestable steps;
 * naming it here keeps the core free of runtime types.
 *
 * @module
 */

/** One step, as the suites declare it. */
export interface StepDefinition {
  readonly name: string;
  readonly fn: (t: TestContext) => void | Promise<void>;
  readonly ignore?: boolean;
}

/** A test context that runs named steps. */
export interface TestContext {
  step(definition: StepDefinition): Promise<boolean>;
  step(name: string, fn: (t: TestContext) => void | Promise<void>): Promise<boolean>;
}
