// Model and service endpoints: /health, /v1/stats, /v1/models (OpenRouter list form),
// /v1/model_inventory, /v1/init (switch the DiT, load the LM) and the /v1/lora/* adapter controls.
import { basename } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { requireHeaderKey } from '../auth.js';
import type { ServerContext } from '../context.js';
import { HttpError, ok, softError } from '../envelope.js';
import { parseBool } from '../release-fields.js';
import { decodeFields } from '../request-body.js';

/** Upstream's model zoo: turbo and SFT do text2music, repaint and cover; only base adds extract, lego and complete. */
const TURBO_TASKS = ['text2music', 'repaint', 'cover', 'cover-nofsq'];
const BASE_TASKS = [...TURBO_TASKS, 'extract', 'lego', 'complete'];
const supportedTasks = (model: string) => (/(^|-)base$/.test(model) ? BASE_TASKS : TURBO_TASKS);

function loadedNames(ctx: ServerContext): { dit: string | null; lm: string | null; lmLoaded: boolean } {
  const e = ctx.host?.current ?? null;
  return { dit: e ? basename(e.ditDir) : null, lm: e?.lmLoaded && e.lmDir ? basename(e.lmDir) : null, lmLoaded: !!e?.lmLoaded };
}

function inventory(ctx: ServerContext) {
  const host = ctx.host;
  const names = loadedNames(ctx);
  const dits = host?.ditModels() ?? [];
  const lms = host?.lmModels() ?? [];
  const dflt = names.dit ?? dits[0] ?? null;
  return {
    models: dits.map((n) => ({ name: n, is_default: n === dflt, is_loaded: n === names.dit, supported_task_types: supportedTasks(n) })),
    default_model: dflt,
    lm_models: lms.map((n) => ({ name: n, is_loaded: n === names.lm })),
    loaded_lm_model: names.lm,
    llm_initialized: names.lmLoaded,
  };
}

export function modelRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/health', async () => {
    const names = loadedNames(ctx);
    return ok({
      status: 'ok',
      service: 'ACE-Step API',
      version: '1.0',
      models_initialized: names.dit !== null,
      llm_initialized: names.lmLoaded,
      loaded_model: names.dit,
      loaded_lm_model: names.lm,
    });
  });

  app.get('/v1/stats', async (req) => {
    requireHeaderKey(req, ctx.apiKey);
    return ok(await ctx.queue.stats());
  });

  app.get('/v1/models', async (req) => {
    requireHeaderKey(req, ctx.apiKey);
    const created = Math.floor(Date.now() / 1000);
    return {
      object: 'list',
      data: (ctx.host?.ditModels() ?? []).map((n) => ({
        id: `acestep/${n}`,
        name: `ACE-Step ${n}`,
        created,
        input_modalities: ['text', 'audio'],
        output_modalities: ['audio', 'text'],
        context_length: 4096,
        pricing: { prompt: '0', completion: '0' },
      })),
    };
  });

  app.get('/v1/model_inventory', async (req) => {
    requireHeaderKey(req, ctx.apiKey);
    return ok(inventory(ctx));
  });

  app.post('/v1/init', async (req) => {
    requireHeaderKey(req, ctx.apiKey);
    const body = await decodeFields(req);
    const host = ctx.host;
    if (!host) return softError('this node runs no models (start it with --checkpoints)', 400);
    const slot = body.slot === undefined || body.slot === null ? 1 : Number(body.slot);
    if (!Number.isInteger(slot) || slot < 1 || slot > 3) return softError(`slot: must be 1, 2 or 3, got ${JSON.stringify(body.slot)}`, 400);
    const model = body.model === undefined || body.model === null || body.model === '' ? undefined : String(body.model);
    if (model !== undefined && !host.ditModels().includes(model))
      return softError(`model: unknown DiT model '${model}' (available: ${host.ditModels().join(', ')})`, 400);
    let initLm: boolean;
    try {
      initLm = body.init_llm === undefined ? false : parseBool('init_llm', body.init_llm);
    } catch (e) {
      return softError((e as Error).message, 400);
    }
    const lmPath =
      body.lm_model_path === undefined || body.lm_model_path === null || body.lm_model_path === ''
        ? undefined
        : basename(String(body.lm_model_path));
    if (lmPath !== undefined && !host.lmModels().includes(lmPath))
      return softError(`lm_model_path: unknown LM model '${lmPath}' (available: ${host.lmModels().join(', ')})`, 400);
    try {
      await host.switchModel(model, lmPath, initLm);
    } catch (e) {
      return softError(`init failed: ${(e as Error).message}`, 500);
    }
    const inv = inventory(ctx);
    return ok({
      message: `model loaded in slot ${slot}`,
      slot,
      loaded_model: loadedNames(ctx).dit,
      loaded_lm_model: inv.loaded_lm_model,
      models: inv.models,
      lm_models: inv.lm_models,
      llm_initialized: inv.llm_initialized,
    });
  });

  const lora = async (fn: (body: Record<string, unknown>) => Promise<unknown>, req: Parameters<typeof decodeFields>[0]) => {
    requireHeaderKey(req, ctx.apiKey);
    const body = req.method === 'GET' ? {} : await decodeFields(req);
    if (!ctx.host) return softError('this node runs no models (start it with --checkpoints)', 400);
    try {
      return ok(await fn(body));
    } catch (e) {
      if (e instanceof HttpError) throw e;
      return softError((e as Error).message, 400);
    }
  };
  const status = () =>
    ctx.host!.exclusive((engine) => {
      const st = engine.loraState();
      const list = engine.adapters.list();
      return {
        lora_loaded: st.loraLoaded,
        use_lora: st.useLora,
        lora_scale: st.loraScale,
        adapter_type: list.find((a) => a.name === st.loraName)?.kind ?? null,
        scales: Object.fromEntries(list.map((a) => [a.name, a.scale])),
        active_adapter: st.loraName,
        adapters: list.map((a) => a.name),
      };
    });
  const str = (body: Record<string, unknown>, k: string): string | undefined =>
    body[k] === undefined || body[k] === null || body[k] === '' ? undefined : String(body[k]);

  app.post('/v1/lora/load', (req) =>
    lora(async (body) => {
      const path = str(body, 'lora_path');
      if (!path) throw new HttpError(400, 'lora_path: required');
      await ctx.host!.exclusive((e) => e.adapters.loadLora(path, { name: str(body, 'adapter_name') }));
      return { message: `loaded ${path}`, ...(await status()) };
    }, req),
  );
  app.post('/v1/lora/unload', (req) =>
    lora(async (body) => {
      await ctx.host!.exclusive((e) => {
        const name = str(body, 'adapter_name');
        if (name) e.adapters.unloadAdapter(name);
        else e.adapters.dispose();
      });
      return { message: 'unloaded', ...(await status()) };
    }, req),
  );
  app.post('/v1/lora/toggle', (req) =>
    lora(async (body) => {
      if (body.use_lora === undefined) throw new Error('use_lora: required (true or false)');
      const use = parseBool('use_lora', body.use_lora);
      await ctx.host!.exclusive((e) => {
        const names = e.adapters.list().map((a) => a.name);
        if (use && names.length === 0) throw new Error('no LoRA adapter is loaded');
        e.adapters.setActiveAdapter(use ? (str(body, 'adapter_name') ?? e.adapters.active ?? names[names.length - 1]) : null);
      });
      return { message: use ? 'LoRA enabled' : 'LoRA disabled', ...(await status()) };
    }, req),
  );
  app.post('/v1/lora/scale', (req) =>
    lora(async (body) => {
      const scale = Number(body.scale);
      if (body.scale === undefined || !Number.isFinite(scale) || scale < 0 || scale > 1)
        throw new Error(`scale: must be a number in [0, 1], got ${JSON.stringify(body.scale)}`);
      await ctx.host!.exclusive((e) => {
        const name = str(body, 'adapter_name') ?? e.adapters.active ?? e.adapters.list()[0]?.name;
        if (!name) throw new Error('no LoRA adapter is loaded');
        e.adapters.setAdapterScale(name, scale);
      });
      return { message: `scale set to ${scale}`, ...(await status()) };
    }, req),
  );
  app.get('/v1/lora/status', (req) => lora(status, req));
  app.post('/v1/lora/status', (req) => lora(status, req));
}
