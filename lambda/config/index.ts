// The configuration module as the rest of the house imports it: the schema and its defaults
// (schema.ts), the limits table (limits.ts) and the parser (parse.ts).

export * from './schema';
export * from './limits';
export * from './parse';
