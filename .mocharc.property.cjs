// The long property pass (npm run test:property): more runs per property, same seeds as CI.
process.env.FC_NUM_RUNS = process.env.FC_NUM_RUNS || '200';
module.exports = {
  'node-option': ['import=tsx'],
  spec: ['property-tests/**/*.property.ts'],
  extension: ['ts'],
  timeout: 600000,
  reporter: 'spec',
};
