/**
 * Who is calling. Every operation has an identity: a verified subject with roles, or anonymous
 * (no credentials). Policies decide what each may do; nothing in the core trusts a client's word.
 */
export type Identity =
  | {
      readonly kind: 'subject';
      readonly subject: string;
      readonly roles: readonly string[];
      readonly expiresAt?: Date;
      /** With authentication switched off: nobody proved who this is, so per-caller limits count by address. */
      readonly unverified?: true;
    }
  | { readonly kind: 'anonymous' };

export const ANONYMOUS: Identity = { kind: 'anonymous' };

export const hasRole = (identity: Identity, role: string): boolean => identity.kind === 'subject' && identity.roles.includes(role);

/** The actor recorded on events: the token's subject, or "anonymous". */
export const actorOf = (identity: Identity): string => (identity.kind === 'subject' ? identity.subject : 'anonymous');

/** Administrators may do and see everything; every policy starts from that. */
export const ADMIN_ROLE = 'admin';
export const isAdmin = (identity: Identity): boolean => hasRole(identity, ADMIN_ROLE);

/**
 * What a stream's readers are written as, and what a caller is: `sub:<subject>` (that one caller),
 * `role:<role>` (every caller with the role), `authenticated` (every caller with a token).
 */
export const principal = {
  subject: (subject: string) => `sub:${subject}`,
  role: (role: string) => `role:${role}`,
  authenticated: 'authenticated',
} as const;

/** The principals a caller counts as; a stream is readable when one of them is among its readers. */
export function principalsOf(identity: Identity): readonly string[] {
  if (identity.kind === 'anonymous') return [];
  return [principal.authenticated, principal.subject(identity.subject), ...identity.roles.map(principal.role)];
}

/** Whether a caller may read a stream whose readers are `readers` (administrators read everything). */
export function mayRead(identity: Identity, readers: readonly string[] | undefined): boolean {
  if (isAdmin(identity)) return true;
  if (!readers) return false;
  const mine = principalsOf(identity);
  return readers.some((reader) => mine.includes(reader));
}
