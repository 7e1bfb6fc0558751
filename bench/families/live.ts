import type { FamilyContext, FamilyResult } from './context.ts';

export async function liveFamily(_ctx: FamilyContext): Promise<FamilyResult> {
  return { rows: [], notes: [], details: {} };
}
