/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': 'ts-jest' },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 180_000,
  verbose: true,
  // A test that fails half-way can leave a connection open; CI must end all the same.
  forceExit: true,
};
