// One place for mocha's settings: TypeScript runs through tsx, specs mirror lib/. `npm test` also
// runs a short, seeded pass of the property tests (FC_NUM_RUNS unset: a dozen runs each).
module.exports = {
  'node-option': ['import=tsx', 'expose-gc'],
  spec: ['spec/**/*.spec.ts', 'property-tests/**/*.spec.ts', 'property-tests/**/*.property.ts'],
  extension: ['ts'],
  timeout: 20000,
  reporter: 'dot',
  exit: false,
};
