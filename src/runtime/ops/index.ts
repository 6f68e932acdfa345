// The op API model code calls; each family lives in its own file.
export * from './shape.js';
export * from './conv.js';
export * from './attention.js';
export * from './matmul.js';
export * from './matmul-w8a8.js';
export * from './quant.js';
export * from './elementwise.js';
export * from './norm.js';
export * from './rope.js';
export * from './softmax.js';
export * from './reduce.js';
export * from './embedding.js';
export * from './sampling.js';
export * from './random.js';
