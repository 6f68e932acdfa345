// Import boundaries of src/: each layer imports only the layers below it.
//   runtime  ->  io, text  ->  models  ->  pipeline  ->  server  ->  cli
// io and text are peers (neither imports the other). The server is a library face (createServer);
// the command line sits on top of it and launches it (`acestep serve`), never the reverse. `npm run
// lint:boundaries` (and test/boundaries.test.ts, so `npm test`) fails on any violation.
const layer = (name) => `^src/${name}/`;
const above = {
  runtime: ['io', 'text', 'models', 'pipeline', 'cli', 'server'],
  io: ['text', 'models', 'pipeline', 'cli', 'server'],
  text: ['io', 'models', 'pipeline', 'cli', 'server'],
  models: ['pipeline', 'cli', 'server'],
  pipeline: ['cli', 'server'],
  server: ['cli'],
};

module.exports = {
  forbidden: [
    ...Object.entries(above).map(([from, higher]) => ({
      name: `${from}-imports-above`,
      comment: `src/${from} may not import ${higher.map((h) => `src/${h}`).join(', ')} (a lower layer importing a higher or peer one)`,
      severity: 'error',
      from: { path: layer(from) },
      to: { path: `^src/(${higher.join('|')})/` },
    })),
    {
      name: 'no-dev-code-in-src',
      comment: 'shipped code may not import tests, tools, bench or scripts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|tools|bench|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
