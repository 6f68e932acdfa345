// The op API model code calls; each family lives in its own file.
export * from './shape.js';
