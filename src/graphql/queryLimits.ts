import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { GraphQLError, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * How big an operation may be before it is refused, unexecuted. Checked by graphql-armor while the
 * operation is parsed (tokens) and validated (the rest), on HTTP and graphql-ws alike: both run
 * Yoga's enveloped parse and validate. The defaults leave room above the largest operation this
 * schema's own clients send (the GraphiQL tabs, the history and time-travel queries, the examples);
 * see docs/security.md for how they were measured.
 */
export type QueryLimits = {
  /** Nesting of selection sets (fragments count as they expand; introspection is exempt). */
  readonly maxDepth: number;
  /** Aliased fields in one operation (`__typename` aliases are free). */
  readonly maxAliases: number;
  /** Lexical tokens in the document: the first check, so a huge document stops being parsed early. */
  readonly maxTokens: number;
  /** Directives in one operation. */
  readonly maxDirectives: number;
  /**
   * graphql-armor's cost: objects 2, scalars 1, each level ×1.5, a list field's selection × its
   * `first`/`last` literal (a variable counts as 1, so page sizes the server caps stay cheap).
   */
  readonly maxCost: number;
};

/**
 * Measured on every operation the GraphiQL tabs, the docs and the test suites send (docs/security.md):
 * at most depth 6, 4 aliases, 184 tokens (GraphiQL's introspection query), no directive, cost 6,794
 * (the StreamHistory tab). A full 1,000-event history page (the largest) with every event and page
 * field costs about 77,000, so one passes and two do not.
 */
export const DEFAULT_QUERY_LIMITS: QueryLimits = { maxDepth: 10, maxAliases: 30, maxTokens: 2_000, maxDirectives: 20, maxCost: 100_000 };

/** The code of every refusal here; `extensions.limit` says which limit, `extensions.max` its value. */
export const QUERY_TOO_COMPLEX = 'QUERY_TOO_COMPLEX';

type LimitName = 'depth' | 'aliases' | 'tokens' | 'directives' | 'cost';

/** Armor's own message (it names the limit and what it found), typed: a client can tell this from its own mistakes. */
function refusal(limit: LimitName, max: number, armorError: GraphQLError): GraphQLError {
  const message = armorError.message.replace(/^Syntax Error: /, '');
  return new GraphQLError(`The operation is too complex: ${message} Split it, or ask for less.`, {
    extensions: { code: QUERY_TOO_COMPLEX, limit, max, http: { spec: true, status: 400 } },
  });
}

/**
 * graphql-armor with this project's limits and typed refusals. Validation limits report into the
 * validation context (so they come back beside GraphQL's own validation errors); the token limit
 * stops the parser at the first token past it, so a 500 KB document costs a few thousand tokens'
 * work. `hideSuggestions` replaces "Did you mean …?" in validation errors, which would otherwise
 * let a client map the schema without introspection.
 */
export function useQueryLimits(limits: QueryLimits, options: { hideSuggestions: boolean }): Plugin {
  const report = (limit: LimitName, max: number) => ({
    n: max,
    propagateOnRejection: false,
    onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(refusal(limit, max, error))],
  });
  const armor = EnvelopArmorPlugin({
    maxTokens: {
      n: limits.maxTokens,
      propagateOnRejection: false,
      // The parser has no validation context to report into: throwing stops it at this token.
      onReject: [
        (_context, error) => {
          throw refusal('tokens', limits.maxTokens, error);
        },
      ],
    },
    maxDepth: report('depth', limits.maxDepth),
    maxAliases: report('aliases', limits.maxAliases),
    maxDirectives: report('directives', limits.maxDirectives),
    costLimit: { ...report('cost', limits.maxCost), maxCost: limits.maxCost },
    blockFieldSuggestion: { enabled: options.hideSuggestions, mask: '' },
  }) as Plugin;
  return {
    onPluginInit({ addPlugin }) {
      addPlugin(armor);
      if (options.hideSuggestions) addPlugin(hideOtherSuggestions);
    },
  };
}

/** Armor hides `Did you mean "x"?`; GraphQL also suggests enum values (`Did you mean the enum value "X"?`). */
const OTHER_SUGGESTION = /\s*Did you mean the enum value [^?]*\?/g;
const hideOtherSuggestions: Plugin = {
  onValidate: () => ({ valid, result, setResult }) => {
    if (valid) return;
    setResult(
      result.map((error) => {
        error.message = error.message.replace(OTHER_SUGGESTION, '');
        return error;
      }),
    );
  },
};
