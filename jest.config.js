/** Tests are TypeScript compiled by swc; type-checking is `npm run typecheck` (tsc). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' } }] },
  testTimeout: 60000,
  modulePathIgnorePatterns: ['<rootDir>/cdk.out', '<rootDir>/test/.tmp'],
};
