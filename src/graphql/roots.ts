import { builder } from './builder.ts';

builder.queryType({ description: 'Reads. Everything here reads projections, except the event history and time travel.' });
builder.mutationType({ description: 'Commands. Each is validated, decided against current state and appended atomically.' });
builder.subscriptionType({ description: 'Live feeds over graphql-ws on the same /graphql path.' });
