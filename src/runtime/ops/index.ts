// The op API model code calls; each family lives in its own file.
export * from './shape.js';
export * from './conv.js';
export * from './attention.js';
export * from './matmul.js';
