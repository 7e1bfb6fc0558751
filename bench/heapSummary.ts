/**
 * Compares two V8 heap snapshots (e.g. taken with `--heapsnapshot-signal` before and after opening
 * idle subscriptions) and prints what grew, by constructor / node name: count and self size.
 *
 *   node bench/heapSummary.ts before.heapsnapshot after.heapsnapshot [--per=10000] [--top=30]
 */
import { readFile } from 'node:fs/promises';

type Totals = Map<string, { count: number; size: number }>;

export async function heapTotals(file: string): Promise<Totals> {
  const snapshot = JSON.parse(await readFile(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const totals: Totals = new Map();
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    const name = type === 'object' || type === 'closure' ? snapshot.strings[snapshot.nodes[i + nameAt]!]! : `(${type})`;
    const key = type === 'closure' ? `closure ${name}` : name;
    const entry = totals.get(key) ?? { count: 0, size: 0 };
    entry.count++;
    entry.size += snapshot.nodes[i + sizeAt]!;
    totals.set(key, entry);
  }
  return totals;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [beforeFile, afterFile] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const per = Number(process.argv.find((a) => a.startsWith('--per='))?.slice(6) ?? 1);
  const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice(6) ?? 30);
  const before = await heapTotals(beforeFile!);
  const after = await heapTotals(afterFile!);
  const growth = [...after].map(([name, a]) => {
    const b = before.get(name) ?? { count: 0, size: 0 };
    return { name, count: a.count - b.count, size: a.size - b.size };
  }).sort((x, y) => y.size - x.size);
  const total = growth.reduce((sum, g) => sum + g.size, 0);
  console.log(`heap growth ${Math.round(total / 1024)} KiB in all, ${Math.round(total / per)} B per unit (÷ ${per})`);
  for (const g of growth.slice(0, top)) {
    console.log(`${String(Math.round(g.size / per)).padStart(7)} B/unit ${String((g.count / per).toFixed(2)).padStart(7)} objects/unit  ${g.name}`);
  }
}
