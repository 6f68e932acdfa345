// The tensor runtime: Tensor, backend selection, scopes, debug taps and the op set.
export * from './dtype.js';
export * from './errors.js';
export * from './backend.js';
export * from './scope.js';
export * from './debug.js';
export * from './dispose.js';
export { Tensor, numelOf, contiguousStrides, type Shape } from './tensor.js';
export * from './ops/index.js';
