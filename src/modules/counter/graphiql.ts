import type { GraphiqlTab } from '../moduleDefinition.ts';

/**
 * The counter's GraphiQL tabs of the README tour (see src/modules/cart/graphiql.ts).
 */
export const counterGraphiqlTabs: readonly GraphiqlTab[] = [
  {
    query: `# Counters exist from their first increment.
mutation IncrementCounter($counterId: ID!) {
  incrementCounter(input: { counterId: $counterId, amount: 5 }) {
    __typename
    ... on IncrementCounterSuccess { counter { counterId value version } events { type version } }
    ... on Error { code message }
  }
}`,
    variables: `{ "counterId": "visits" }`,
  },
  {
    query: `# A counter never goes below zero: decrement by more than its value for a CounterOutOfRangeError.
mutation DecrementCounter($counterId: ID!) {
  decrementCounter(input: { counterId: $counterId, amount: 2 }) {
    __typename
    ... on DecrementCounterSuccess { counter { counterId value version } }
    ... on CounterOutOfRangeError { value change }
    ... on Error { code message }
  }
}`,
    variables: `{ "counterId": "visits" }`,
  },
];
