import { writeFileSync } from 'node:fs';
import { printedSchema } from '../src/app/schema.ts';

const target = new URL('../schema/schema.graphql', import.meta.url);
writeFileSync(target, printedSchema());
process.stdout.write(`wrote ${target.pathname}\n`);
