import { cartModule } from '../modules/cart/module.ts';
import { counterModule } from '../modules/counter/module.ts';
import type { ModuleDefinition } from '../modules/moduleDefinition.ts';
import { userModule } from '../modules/user/module.ts';

/**
 * The modules this app is made of, and the only place that names them. Adding an aggregate is a
 * folder under src/modules/, one line here, and `npm run schema`.
 */
export const modules: readonly ModuleDefinition[] = [cartModule, userModule, counterModule];
