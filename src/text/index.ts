// Text layer: tokenizers and chat templates.
export * from './errors.js';
export * from './tokenizer.js';
