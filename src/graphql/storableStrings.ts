import { type ASTNode, type ASTVisitor, GraphQLError, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { ValidationIssue } from '../core/errors.ts';

/*
 * PostgreSQL stores no NUL character in text or jsonb, and its jsonb refuses strings that are not
 * well-formed UTF-16 (a lone surrogate, which JSON.stringify writes as "\ud800"; in text the driver
 * would silently turn it into U+FFFD). Such a string anywhere in a request is the client's mistake, so
 * it is refused here, at the edge, before anything runs, rather than surfacing as an unexpected
 * database error (or as a changed value) from whichever resolver happens to store it.
 *
 * The refusal is a request error, not a member of a mutation's result union: it is decided before
 * any field runs, for queries and subscriptions as well as mutations, as GraphQL's own validation
 * errors are. Clients see a GraphQL error with `extensions: { code: 'VALIDATION', issues }`, the same
 * code and issue shape as a ValidationError, over HTTP and graphql-ws alike.
 */

/** Why PostgreSQL could not store this string, or undefined when it can. */
function problemWith(value: string): string | undefined {
  if (value.includes('\u0000')) return 'contains a NUL character (\\u0000), which cannot be stored';
  if (!value.isWellFormed()) return 'is not well-formed UTF-16 (a lone surrogate), which cannot be stored';
  return undefined;
}

/** Every unstorable string in a JSON value (keys too), with its path. */
function unstorableIn(value: unknown, path: string, issues: ValidationIssue[] = []): ValidationIssue[] {
  if (typeof value === 'string') {
    const problem = problemWith(value);
    if (problem) issues.push({ path, message: problem });
  } else if (Array.isArray(value)) {
    value.forEach((element, index) => unstorableIn(element, `${path}[${index}]`, issues));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, element] of Object.entries(value)) {
      const problem = problemWith(key);
      if (problem) issues.push({ path: `${path}.${JSON.stringify(key)}`, message: `has a key that ${problem}` });
      unstorableIn(element, `${path}.${key}`, issues);
    }
  }
  return issues;
}

/** The refusal, answered like GraphQL's own validation errors: 400 to clients accepting application/graphql-response+json. */
function refusal(issues: readonly ValidationIssue[], nodes?: readonly ASTNode[]): GraphQLError {
  const where = issues.map((issue) => issue.path).join(', ');
  return new GraphQLError(`The request holds text that cannot be stored (${where}): remove NUL characters and lone surrogates`, {
    ...(nodes ? { nodes } : {}),
    extensions: { code: 'VALIDATION', issues, http: { spec: true, status: 400 } },
  });
}

/**
 * String literals in the operation: the GraphQL lexer lets "\u0000" through. Reported as
 * `<field (alias)>.<argument>.<input field>…`. A document-only check, so GraphQL's validation
 * cache may keep its result.
 */
function StorableStringLiterals(context: ValidationContext): ASTVisitor {
  const path: string[] = [];
  return {
    Field: {
      enter: (node) => void path.push(node.alias?.value ?? node.name.value),
      leave: () => void path.pop(),
    },
    Argument: {
      enter: (node) => void path.push(node.name.value),
      leave: () => void path.pop(),
    },
    ObjectField: {
      enter: (node) => void path.push(node.name.value),
      leave: () => void path.pop(),
    },
    StringValue(node) {
      const problem = problemWith(node.value);
      if (!problem) return;
      context.reportError(refusal([{ path: path.join('.'), message: problem }], [node]));
    },
    // Directive arguments and default values hold strings too; their paths start at the directive or variable.
    Directive: {
      enter: (node) => void path.push(`@${node.name.value}`),
      leave: () => void path.pop(),
    },
    VariableDefinition: {
      enter: (node) => void path.push(`$${node.variable.name.value}`),
      leave: () => void path.pop(),
    },
  };
}

/**
 * Refuses requests holding strings PostgreSQL cannot store. Variables are checked per request (in
 * the parse hook, which runs before GraphQL's document caches, so a refusal is never remembered for
 * the document); string literals by a validation rule. Both the HTTP path and the graphql-ws path
 * parse and validate through the enveloped functions, so one plugin covers both.
 */
export function useStorableStrings(): Plugin {
  return {
    onParse({ context }) {
      const variables = (context as { params?: { variables?: unknown } }).params?.variables;
      if (typeof variables !== 'object' || variables === null) return;
      const issues = Object.entries(variables).flatMap(([name, value]) => unstorableIn(value, `$${name}`));
      if (issues.length > 0) throw refusal(issues);
    },
    onValidate({ addValidationRule }) {
      addValidationRule(StorableStringLiterals);
    },
  };
}
