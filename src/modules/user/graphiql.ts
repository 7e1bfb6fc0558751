import type { GraphiqlTab } from '../moduleDefinition.ts';

/**
 * The user's GraphiQL tab of the README tour (see src/modules/cart/graphiql.ts).
 */
export const userGraphiqlTabs: readonly GraphiqlTab[] = [
  {
    query: `# Users: an email belongs to one user only. Run it twice: the second is an EmailAlreadyRegisteredError.
mutation RegisterUser($email: String!, $name: String!) {
  registerUser(input: { email: $email, name: $name }) {
    __typename
    ... on RegisterUserSuccess { user { userId email name status version } position }
    ... on EmailAlreadyRegisteredError { email }
    ... on Error { code message }
  }
}`,
    variables: `{ "email": "ada@example.com", "name": "Ada Lovelace" }`,
  },
];
