// One place for mocha's settings: TypeScript runs through tsx, specs mirror lib/.
module.exports = {
  'node-option': ['import=tsx'],
  spec: ['spec/**/*.spec.ts'],
  extension: ['ts'],
  timeout: 20000,
  reporter: 'dot',
  exit: false,
};
