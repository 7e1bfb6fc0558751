/**
 * Summarises V8 CPU profiles (`node --cpu-prof`): the top frames by self time, and the top
 * frames by total (inclusive) time, grouped by function and file. Also writes a folded-stacks file
 * next to each profile (`<profile>.folded`) for flame graph tools (speedscope, flamegraph.pl,
 * inferno); the .cpuprofile itself opens in Chrome DevTools or speedscope.
 *
 *   node bench/profileSummary.ts bench/results/profiles/*.cpuprofile [--top=25]
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT } from './lib/server.ts';

type ProfileNode = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
};
type Profile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

export type Frame = { frame: string; selfMs: number; selfPercent?: number; totalMs?: number; totalPercent?: number };

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || '(anonymous)';
  if (!url) return name;
  let file = url.replace(/^file:\/\//, '');
  if (file.startsWith(ROOT)) file = path.relative(ROOT, file);
  file = file.replace(/^.*node_modules\//, 'node_modules/');
  return `${name} ${file}:${lineNumber + 1}`;
}

export async function summarizeProfile(file: string, top = 25): Promise<{ totalMs: number; idlePercent: number; self: Frame[]; inclusive: Frame[] }> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfTime = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const total = [...selfTime.values()].reduce((a, b) => a + b, 0);
  const selfByFrame = new Map<string, number>();
  const inclusiveByFrame = new Map<string, number>();
  const folded = new Map<string, number>();
  for (const [id, ms] of selfTime) {
    const node = byId.get(id)!;
    const name = label(node);
    selfByFrame.set(name, (selfByFrame.get(name) ?? 0) + ms);
    const stack: string[] = [];
    const seen = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const frame = label(byId.get(current)!);
      stack.push(frame);
      if (!seen.has(frame)) {
        seen.add(frame);
        inclusiveByFrame.set(frame, (inclusiveByFrame.get(frame) ?? 0) + ms);
      }
    }
    const key = stack.reverse().map((f) => f.replaceAll(';', ',')).join(';');
    folded.set(key, (folded.get(key) ?? 0) + ms);
  }
  await writeFile(`${file}.folded`, [...folded].map(([stack, ms]) => `${stack} ${Math.max(1, Math.round(ms * 1000))}`).join('\n') + '\n');
  const idle = (selfByFrame.get('(idle)') ?? 0) / total;
  const rank = (map: Map<string, number>) =>
    [...map].filter(([frame]) => !['(idle)', '(root)', '(program)'].includes(frame)).sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    totalMs: Math.round(total),
    idlePercent: Math.round(idle * 1000) / 10,
    self: rank(selfByFrame).map(([frame, ms]) => ({ frame, selfMs: Math.round(ms), selfPercent: Math.round((ms / total) * 1000) / 10 })),
    inclusive: rank(inclusiveByFrame).map(([frame, ms]) => ({ frame, selfMs: 0, totalMs: Math.round(ms), totalPercent: Math.round((ms / total) * 1000) / 10 })),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice(6) ?? 25);
  for (const file of files) {
    const summary = await summarizeProfile(file, top);
    console.log(`\n## ${path.basename(file)}: ${summary.totalMs} ms sampled, ${summary.idlePercent} % idle\n`);
    console.log('Top self time:');
    for (const f of summary.self) console.log(`  ${String(f.selfPercent).padStart(5)} %  ${String(f.selfMs).padStart(6)} ms  ${f.frame}`);
    console.log('Top total (inclusive) time:');
    for (const f of summary.inclusive) console.log(`  ${String(f.totalPercent).padStart(5)} %  ${String(f.totalMs).padStart(6)} ms  ${f.frame}`);
  }
}
