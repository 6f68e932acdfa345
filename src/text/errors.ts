// Typed errors of the text layer (tokenizers, prompt templates): each names the file or folder.
import { AcestepError } from '../runtime/errors.js';

export class TokenizerError extends AcestepError {
  constructor(
    message: string,
    readonly source: string,
  ) {
    super(`${source}: ${message}`, 'ERR_TOKENIZER');
  }
}
