// Golden kind for the condition encoder: cond_encoder_b1, cond_encoder_b2_padded (2B) and
// xl_cond_encoder (XL: prepended timbre CLS token, separate encoder widths).
import { collectTaps } from '../../../src/runtime/debug.js';
import { openAceStepCheckpoint } from '../../../src/models/acestep-config.js';
import { ConditionEncoder } from '../../../src/models/condition-encoder.js';
import { quantizeLinearsW8A8, setPrecision } from '../../../src/models/layers.js';
import type { Actual, CaseKind, GoldenCase } from '../case.js';

/** Upstream output name -> the module path the condition encoder taps (see src/runtime/debug.ts). */
const TAPS: Record<string, string> = {
  text_projected: 'encoder.text_projector',
  lyric_encoder_last_hidden_state: 'encoder.lyric_encoder',
  timbre_embs_unpack: 'encoder.timbre_encoder:timbre_embs_unpack',
  timbre_embs_mask: 'encoder.timbre_encoder:timbre_embs_mask',
  timbre_encoder_normed_sequence: 'encoder.timbre_encoder.norm',
};

const kind: CaseKind = {
  cases: ['cond_encoder_b1', 'cond_encoder_b2_padded', 'xl_cond_encoder'],
  async run(c: GoldenCase, opts) {
    const dev = opts.backend;
    const { ckpt, config, weights } = openAceStepCheckpoint(c.checkpoint);
    try {
      const enc = new ConditionEncoder(weights, config, dev);
      setPrecision(enc, opts.precision ?? 'fp32');
      if (opts.quantization === 'w8a8_dynamic') quantizeLinearsW8A8(enc);
      const inp = (n: string) => c.inputOn(n, dev);
      const { result, taps } = await collectTaps(
        (n) => n.startsWith('encoder.'),
        () =>
          enc.forward({
            textHiddenStates: inp('text_hidden_states'),
            textAttentionMask: c.input('text_attention_mask'),
            lyricHiddenStates: inp('lyric_hidden_states'),
            lyricAttentionMask: c.input('lyric_attention_mask'),
            referAcoustic: inp('refer_audio_acoustic_hidden_states_packed'),
            referOrder: c.input('refer_audio_order_mask'),
          }),
      );
      const out: Actual[] = [
        { name: 'encoder_hidden_states', value: result.encoderHiddenStates },
        { name: 'encoder_attention_mask', value: result.encoderAttentionMask, tol: 'exact' },
      ];
      for (const [name, path] of Object.entries(TAPS)) {
        if (!c.outputs.has(name)) continue;
        const v = taps.get(path);
        if (v) out.push({ name, value: v, tol: name.endsWith('_mask') ? 'exact' : undefined });
      }
      return out;
    } finally {
      ckpt.dispose();
    }
  },
};

export default kind;
