// Golden kind for the sampler cases: the condition encoder, audio tokenizer round trip and DiT
// run inside the flow-matching sampler exactly as upstream generate_audio chains them, fed with
// the recorded initial noise (and SDE noise), then compared call by call (step_x/t/v_raw), on
// the final latents and on the prepared conditions. Covers turbo ODE/SDE/DCW, batch-2 covers,
// XL, base/SFT CFG (APG, ADG, Heun), custom timesteps, audio_cover_strength,
// cover_noise_strength and repaint (including the waveform splice).
import { Tensor } from '../../../src/runtime/index.js';
import { openAceStepCheckpoint, f32Param } from '../../../src/models/acestep-config.js';
import { AceStepDiT } from '../../../src/models/dit.js';
import { ConditionEncoder } from '../../../src/models/condition-encoder.js';
import { AudioTokenizer } from '../../../src/models/audio-tokenizer.js';
import { quantizeLinearsW8A8, setPrecision } from '../../../src/models/layers.js';
import { sample, type SamplerOptions, type SamplerTraceEvent } from '../../../src/pipeline/diffusion/sampler.js';
import {
  ditVelocity,
  prepareDiTCondition,
  withNullCondition,
  type DiTStepCondition,
} from '../../../src/pipeline/diffusion/dit-sampling.js';
import { repaintWaveformSplice, resolveRepaintConfig } from '../../../src/pipeline/diffusion/repaint.js';
import { regionFrames, silenceBatch, taskLatents } from '../../../src/pipeline/task-assembly.js';
import { concatFloat32, type Actual, type CaseKind, type GoldenCase } from '../case.js';

interface Params {
  infer_steps?: number;
  shift?: number;
  infer_method?: 'ode' | 'sde';
  dcw_enabled?: boolean;
  dcw_mode?: 'low' | 'high' | 'double';
  dcw_scaler?: number;
  dcw_high_scaler?: number;
  diffusion_guidance_scale?: number;
  diffusion_guidance_scale_default?: number;
  cfg_interval_start?: number;
  cfg_interval_end?: number;
  use_adg?: boolean;
  sampler_mode?: string;
  audio_cover_strength?: number;
  cover_noise_strength?: number;
  repainting_start_s?: number;
  repainting_end_s?: number;
  repaint_mode?: 'aggressive' | 'conservative' | 'balanced';
  repaint_strength?: number;
  chunk_mask_mode?: 'auto' | 'explicit';
  splice_sample_rate?: number;
}

/** The golden cases run at upstream's 48 kHz with a 1920-sample hop (25 latent frames per second). */
const UPSTREAM_SAMPLE_RATE = 48000;
const UPSTREAM_HOP = 1920;

const BASE_CASES = new Set(['base_cfg_apg', 'base_cfg_adg', 'base_heun_cfg']);
const SFT_CASES = new Set(['sft_cfg', 'sft_cover_timesteps']);

/** Sampler options of a case from its manifest parameters. */
function samplerOptions(c: GoldenCase, p: Params): SamplerOptions {
  const name = c.manifest.case;
  const variant = BASE_CASES.has(name) ? 'base' : SFT_CASES.has(name) ? 'sft' : 'turbo';
  const o: SamplerOptions = { variant, steps: p.infer_steps, shift: p.shift, method: p.infer_method ?? 'ode' };
  if (p.dcw_enabled) o.dcw = { mode: p.dcw_mode, scaler: p.dcw_scaler, highScaler: p.dcw_high_scaler };
  if (variant !== 'turbo') {
    o.guidanceScale = p.diffusion_guidance_scale ?? p.diffusion_guidance_scale_default ?? 7;
    o.guidance = p.use_adg ? 'adg' : 'apg';
    o.cfgIntervalStart = p.cfg_interval_start;
    o.cfgIntervalEnd = p.cfg_interval_end;
    o.heun = p.sampler_mode === 'heun';
  }
  if (p.audio_cover_strength !== undefined) o.audioCoverStrength = p.audio_cover_strength;
  if (p.cover_noise_strength) o.coverNoiseStrength = p.cover_noise_strength;
  return o;
}

const kind: CaseKind = {
  cases: [
    'turbo_ode',
    'turbo_ode_dcw',
    'turbo_cover_b2',
    'turbo_sde',
    'base_cfg_apg',
    'base_cfg_adg',
    'base_heun_cfg',
    'sft_cfg',
    'sft_cover_timesteps',
    'xl_turbo_ode',
    'cover_strength',
    'cover_noise_strength',
    'repaint',
  ],
  notChecked: (c) => {
    const out: Record<string, string> = {};
    for (const n of c.outputs.names) {
      if (n.startsWith('sde_noise_')) out[n] = 'upstream global-RNG draws; fed to the sampler as its SDE noise, not produced';
    }
    return out;
  },
  async run(c: GoldenCase, opts) {
    const dev = opts.backend;
    const p = c.params<Params>();
    const inp = (n: string) => c.inputOn(n, dev);
    const { ckpt, config, weights } = openAceStepCheckpoint(c.checkpoint);
    const dit = new AceStepDiT(weights, config, dev);
    const encoder = new ConditionEncoder(weights, config, dev);
    for (const m of [dit, encoder]) setPrecision(m, opts.precision ?? 'fp32');
    if (opts.quantization === 'w8a8_dynamic') for (const m of [dit, encoder]) quantizeLinearsW8A8(m);
    const tokenizer = new AudioTokenizer(weights, config, dev);
    const vel = ditVelocity(dit);
    let nullEmb: Tensor | null = null;
    try {
      const noiseT = c.input('initial_noise');
      const [B, T, C] = noiseT.shape;
      const noise = await noiseT.toFloat32();
      const silence = inp('silence_latent');
      const sil = { data: await silence.toFloat32(), frames: silence.shape[1], C };
      const out: Actual[] = [];
      const so = samplerOptions(c, p);

      // Repaint: the handler's region, silenced source and chunk mask replace the stored inputs.
      let srcLatents = inp('src_latents');
      let chunkMasks = inp('chunk_masks');
      if (c.manifest.case === 'repaint') {
        // The region, silenced source and chunk mask come from the pipeline's task assembly.
        const region = regionFrames({ startS: p.repainting_start_s!, endS: p.repainting_end_s! }, T, UPSTREAM_SAMPLE_RATE, UPSTREAM_HOP);
        const rc = resolveRepaintConfig(p.repaint_mode, p.repaint_strength);
        const clean = await c.input('clean_src_latents').toFloat32();
        const built = taskLatents(clean, [B, T, C], sil, region, p.chunk_mask_mode ?? 'auto', true);
        srcLatents = Tensor.fromArray(built.src, [B, T, C], { device: dev });
        chunkMasks = Tensor.fromArray(built.chunkMask, [B, T, C], { device: dev });
        so.repaint = { mask: built.repaintMask!, cleanSrc: clean, injectionRatio: rc.injectionRatio, crossfadeFrames: rc.crossfadeFrames };
        out.push(
          { name: 'repaint_mask', value: built.repaintMask!, tol: 'exact' },
          { name: 'src_latents_built', value: built.src },
          { name: 'chunk_mask_built', value: Array.from({ length: B * T }, (_, f) => built.chunkRow[f % T]), tol: 'exact' },
        );
        const pred = c.input('splice_pred_wavs'),
          src = c.input('splice_src_wavs');
        const [pb, ch, pn] = pred.shape;
        const sn = src.shape[2];
        const pd = await pred.toFloat32(),
          sd = await src.toFloat32();
        const spliced = new Float32Array(pd.length);
        for (let b = 0; b < pb; b++) {
          spliced.set(
            repaintWaveformSplice(
              pd.subarray(b * ch * pn, (b + 1) * ch * pn),
              pn,
              sd.subarray(b * ch * sn, (b + 1) * ch * sn),
              sn,
              ch,
              p.splice_sample_rate!,
              p.repainting_start_s!,
              p.repainting_end_s!,
              rc.wavCrossfadeSeconds,
            ),
            b * ch * pn,
          );
        }
        out.push({ name: 'splice_out', value: spliced, tol: { maxAbs: 1e-5, cosine: 0.99999 } });
      }
      if (so.coverNoiseStrength) so.srcLatents = await c.input('src_latents').toFloat32();

      const isCovers = Array.from((await c.input('is_covers').data()) as BigInt64Array, Number);
      const common = {
        lyricHiddenStates: inp('lyric_hidden_states'),
        lyricAttentionMask: c.input('lyric_attention_mask'),
        referAcoustic: inp('refer_audio_acoustic_hidden_states_packed'),
        referOrder: c.input('refer_audio_order_mask'),
        silenceLatent: silence,
        chunkMasks,
      };
      const main = await prepareDiTCondition(
        { encoder, tokenizer },
        {
          ...common,
          textHiddenStates: inp('text_hidden_states'),
          textAttentionMask: c.input('text_attention_mask'),
          srcLatents,
          isCovers,
        },
      );
      let nonCover: DiTStepCondition | undefined;
      if ((so.audioCoverStrength ?? 1) < 1) {
        nonCover = await prepareDiTCondition(
          { encoder, tokenizer },
          {
            ...common,
            textHiddenStates: inp('non_cover_text_hidden_states'),
            textAttentionMask: c.input('non_cover_text_attention_mask'),
            srcLatents: Tensor.fromArray(silenceBatch(sil, B, T), [B, T, C], { device: dev }),
            isCovers: new Array(B).fill(0),
          },
        );
      }
      const prefix = c.outputs.has('cond0_encoder_hidden_states') ? 'cond0_' : '';
      out.push(
        { name: `${prefix}encoder_hidden_states`, value: main.encoderHiddenStates },
        { name: `${prefix}context_latents`, value: main.contextLatents },
      );
      if (c.outputs.has(`${prefix}encoder_attention_mask`))
        out.push({ name: `${prefix}encoder_attention_mask`, value: main.encoderAttentionMask, tol: 'exact' });
      if (nonCover && c.outputs.has('cond1_encoder_hidden_states')) {
        out.push(
          { name: 'cond1_encoder_hidden_states', value: nonCover.encoderHiddenStates },
          { name: 'cond1_context_latents', value: nonCover.contextLatents },
        );
      }

      const guided = (so.guidanceScale ?? 1) > 1;
      if (guided) nullEmb = f32Param(weights, 'null_condition_emb', [1, 1, config.encoderHiddenSize], dev);
      const forSampler = (d: DiTStepCondition) => (nullEmb ? withNullCondition(d, nullEmb) : d);
      const conditions = { main: forSampler(main), nonCover: nonCover && forSampler(nonCover) };
      if (c.hasInput('timesteps')) so.timesteps = Array.from(await c.input('timesteps').toFloat32());
      if (so.method === 'sde') so.sdeNoise = async (i) => c.expected(`sde_noise_${i}`).toFloat32();

      const events: SamplerTraceEvent[] = [];
      so.trace = (e) => events.push(e);
      so.device = dev;
      const r = await sample(vel.velocity, conditions, noise, [B, T, C], so);
      const decodes = events.filter((e) => e.type === 'decode');
      const rows = guided ? 2 * B : B;
      out.push(
        { name: 'x0', value: r.latents },
        { name: 'step_x', value: concatFloat32(decodes.map((e) => e.x)) },
        { name: 'step_v_raw', value: concatFloat32(decodes.map((e) => e.v)) },
        { name: 'step_t', value: decodes.flatMap((e) => new Array<number>(rows).fill(e.t)) },
      );
      const injections = events.filter((e) => e.type === 'inject');
      if (c.outputs.has('injection_t_next')) {
        out.push(
          { name: 'injection_t_next', value: injections.map((e) => e.tNext) },
          { name: 'injection_x_before', value: concatFloat32(injections.map((e) => e.before)) },
          { name: 'injection_x_after', value: concatFloat32(injections.map((e) => e.after)) },
        );
      }
      const bb = events.find((e) => e.type === 'beforeBlend');
      if (bb && c.outputs.has('x_before_blend')) out.push({ name: 'x_before_blend', value: bb.x });

      if (c.outputs.has('x0_base_modeling_file')) {
        // The base file counts cover steps from its steps argument (default 30) before the custom
        // timesteps override it, so this run stays on the cover condition throughout.
        const rb = await sample(vel.velocity, conditions, noise, [B, T, C], { ...so, variant: 'base', trace: undefined });
        out.push({ name: 'x0_base_modeling_file', value: rb.latents });
      }
      return out;
    } finally {
      vel.dispose();
      for (const m of [dit, encoder, tokenizer]) m.dispose();
      nullEmb?.dispose();
      ckpt.dispose();
    }
  },
};

export default kind;
