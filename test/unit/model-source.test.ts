import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/embed/model-source.js';
import { FIXTURE_MODEL } from '../helpers/fixtures.js';

describe('loadModel', () => {
  it("runs loads one at a time, so one model's source settings hold for its whole load", async () => {
    const { env } = await import('@huggingface/transformers');
    const seen: string[] = [];
    const local = loadModel(
      { model: FIXTURE_MODEL, allowRemote: true },
      'local model',
      async (id, folder) => {
        seen.push(`local start remote=${env.allowRemoteModels} id=${id} folder=${Boolean(folder)}`);
        await new Promise((r) => setTimeout(r, 30));
        seen.push(`local end remote=${env.allowRemoteModels}`);
      },
    );
    const hub = loadModel(
      { model: 'Xenova/some-hub-model', allowRemote: true },
      'hub model',
      async (id, folder) => {
        seen.push(`hub remote=${env.allowRemoteModels} id=${id} folder=${Boolean(folder)}`);
      },
    );
    await Promise.all([local, hub]);
    expect(seen).toEqual([
      'local start remote=false id=tiny-clip-shapes folder=true',
      'local end remote=false',
      'hub remote=true id=Xenova/some-hub-model folder=false',
    ]);
  });

  it('a failed load does not block the next one', async () => {
    await expect(
      loadModel({ model: 'a/b', allowRemote: true }, 'm', async () => Promise.reject(new Error('boom'))),
    ).rejects.toThrow('boom');
    await expect(loadModel({ model: 'a/b', allowRemote: true }, 'm', async () => 42)).resolves.toBe(42);
  });
});
