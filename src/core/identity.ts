/**
 * Who is calling. Every operation has an identity: a verified subject with roles, or anonymous
 * (no credentials). Policies decide what each may do; nothing in the core trusts a client's word.
 */
export type Identity =
  | { readonly kind: 'subject'; readonly subject: string; readonly roles: readonly string[]; readonly expiresAt?: Date }
  | { readonly kind: 'anonymous' };

export const ANONYMOUS: Identity = { kind: 'anonymous' };

export const hasRole = (identity: Identity, role: string): boolean => identity.kind === 'subject' && identity.roles.includes(role);

/** The actor recorded on events: the token's subject, or "anonymous". */
export const actorOf = (identity: Identity): string => (identity.kind === 'subject' ? identity.subject : 'anonymous');
