import type { FamilyContext, FamilyResult } from './context.ts';

export async function memoryFamily(_ctx: FamilyContext): Promise<FamilyResult> {
  return { rows: [], notes: [], details: {} };
}
