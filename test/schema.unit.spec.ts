import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isEnumType, isInputObjectType, isInterfaceType, isObjectType, isScalarType, isUnionType } from 'graphql';
import { printedSchema, schema } from '../src/app/schema.ts';

describe('the committed schema', () => {
  it('matches the schema the code builds (run `npm run schema` after changing the API)', () => {
    const committed = readFileSync(new URL('../schema/schema.graphql', import.meta.url), 'utf8');
    expect(printedSchema(), 'schema/schema.graphql is stale: run `npm run schema` and commit it').toBe(committed);
  });
});

/** Everything GraphiQL shows that has no description, as "Type", "Type.field" or "Type.field(arg)". */
function undocumented(): string[] {
  const missing: string[] = [];
  const described = (text: string | null | undefined) => typeof text === 'string' && text.trim().length > 0;
  for (const type of Object.values(schema.getTypeMap())) {
    const name = type.name;
    if (name.startsWith('__')) continue;
    if (!described(type.description)) missing.push(type.name);
    if (isObjectType(type) || isInterfaceType(type)) {
      const interfaces = type.getInterfaces();
      for (const field of Object.values(type.getFields())) {
        // A field an interface declares is documented there; GraphiQL shows it on every implementation.
        const inherited = interfaces.some((i) => described(i.getFields()[field.name]?.description));
        if (!described(field.description) && !inherited) missing.push(`${type.name}.${field.name}`);
        for (const arg of field.args) {
          if (!described(arg.description)) missing.push(`${type.name}.${field.name}(${arg.name})`);
        }
      }
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) {
        if (!described(field.description)) missing.push(`${type.name}.${field.name}`);
      }
    } else if (isEnumType(type)) {
      for (const value of type.getValues()) {
        if (!described(value.description)) missing.push(`${type.name}.${value.name}`);
      }
    } else if (!isScalarType(type) && !isUnionType(type)) {
      missing.push(`${name} (a kind of type this check does not know)`);
    }
  }
  return missing;
}

describe('the schema documentation', () => {
  it('describes every type, field, argument and enum value, as GraphiQL shows them', () => {
    expect(undocumented()).toEqual([]);
  });
});
