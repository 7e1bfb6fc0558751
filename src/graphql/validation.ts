import { ValidationError, type ValidationIssue } from '../core/errors.ts';

/**
 * Field checks for command inputs beyond what GraphQL types enforce. Collects every problem so the
 * client sees all of them at once, then throws one ValidationError.
 */
export class InputCheck {
  private readonly issues: ValidationIssue[] = [];

  text(path: string, value: string, options: { max?: number; pattern?: RegExp; patternHint?: string } = {}): string {
    const trimmed = value.trim();
    const max = options.max ?? 200;
    if (trimmed.length === 0) this.issues.push({ path, message: 'must not be empty' });
    else if (trimmed.length > max) this.issues.push({ path, message: `must be at most ${max} characters` });
    else if (options.pattern && !options.pattern.test(trimmed)) this.issues.push({ path, message: options.patternHint ?? `must match ${options.pattern}` });
    return trimmed;
  }

  integer(path: string, value: number, min: number, max: number): number {
    if (!Number.isInteger(value) || value < min || value > max) this.issues.push({ path, message: `must be a whole number from ${min} to ${max}, got ${value}` });
    return value;
  }

  optionalVersion(path: string, value: number | null | undefined): number | undefined {
    if (value == null) return undefined;
    return this.integer(path, value, 0, 2_147_483_647);
  }

  /** A client-chosen command id (see COMMAND_ID_FIELD); undefined when not given. */
  optionalCommandId(path: string, value: string | number | null | undefined): string | undefined {
    if (value == null) return undefined;
    return this.text(path, String(value), { max: 100, pattern: ID_PATTERN, patternHint: ID_HINT });
  }

  done(): void {
    if (this.issues.length === 0) return;
    const summary = this.issues.map((issue) => `${issue.path} ${issue.message}`).join('; ');
    throw new ValidationError(`Invalid input: ${summary}`, this.issues);
  }
}

/** Ids clients may choose for new aggregates: URL-safe, so they work in paths and logs. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
export const ID_HINT = 'must start with a letter or digit and use only letters, digits, _ . : -';
