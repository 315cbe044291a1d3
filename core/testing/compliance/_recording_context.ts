/**
 * A stand-in for the test runner's context that runs steps and records their
 * outcome instead of failing the enclosing test, so the suites' own tests
 * can prove that a broken implementation fails the right step.
 *
 * @module
 */
import type { StepDefinition, TestContext } from "./_test_context.ts";

/** The outcome of one step. */
export interface StepOutcome {
  readonly name: string;
  readonly outcome: "passed" | "failed" | "ignored";
  readonly error?: unknown;
}

/** A context whose steps are recorded in `outcomes`. */
export interface RecordingContext {
  readonly t: TestContext;
  readonly outcomes: StepOutcome[];
  /** Names of the failed steps. */
  failed(): string[];
  /** Names of the ignored steps. */
  ignored(): string[];
}

type StepFn = (t: TestContext) => void | Promise<void>;

/** Creates a recording context. */
export function recordingContext(): RecordingContext {
  const outcomes: StepOutcome[] = [];
  const step = async (
    nameOrDefinition: string | StepDefinition,
    maybeFn?: StepFn,
  ): Promise<boolean> => {
    const definition = typeof nameOrDefinition === "string"
      ? { name: nameOrDefinition, fn: maybeFn!, ignore: false }
      : nameOrDefinition;
    if (definition.ignore) {
      outcomes.push({ name: definition.name, outcome: "ignored" });
      return false;
    }
    try {
      await definition.fn(t);
      outcomes.push({ name: definition.name, outcome: "passed" });
      return true;
    } catch (error) {
      outcomes.push({ name: definition.name, outcome: "failed", error });
      return false;
    }
  };
  const t = { name: "recording", origin: "recording", step } as unknown as TestContext;
  return {
    t,
    outcomes,
    failed: () => outcomes.filter((o) => o.outcome === "failed").map((o) => o.name),
    ignored: () => outcomes.filter((o) => o.outcome === "ignored").map((o) => o.name),
  };
}
