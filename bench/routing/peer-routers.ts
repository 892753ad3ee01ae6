// The peer routers' smart policies in `npm run bench:routing`, run unmodified in front of the simulated fleet: SMG
// (Shepherd Model Gateway) and vLLM's router, each with its cache-aware policy at its default settings (an
// approximate radix tree of the prompts each worker was sent, balanced against in-flight load). They route by the
// `model` field to workers that serve it, with no Kthena-style model routes, so the client sends the engines' model
// name; SMG takes the LoRA adapters as aliases of the base model (it then forwards the base model's name: its share
// of LoRA requests run without their adapters, which only spares it adapter loads).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { installPeers, peerInstances, portsNeeded, PEER_VERSIONS, type PeerName } from '../peers/peers.ts';

export interface PeerProfile {
  readonly name: string;
  readonly peer: PeerName;
  readonly policy: string;
  description(): string;
}

export const PEER_PROFILES: readonly PeerProfile[] = [
  { name: 'smg-cache-aware', peer: 'smg', policy: 'cache_aware', description: () => `SMG ${PEER_VERSIONS.smg} --policy cache_aware, its defaults` },
  {
    name: 'vllm-router-cache-aware',
    peer: 'vllm-router',
    policy: 'cache_aware',
    description: () => `vLLM router ${PEER_VERSIONS['vllm-router']} --policy cache_aware, its defaults (prompt tokens from the engines' /v1/chat/completions/render)`,
  },
];

export function peerProfileByName(name: string): PeerProfile | undefined {
  return PEER_PROFILES.find((p) => p.name === name);
}

/** Installs what the chosen peer profiles need; the reason per profile name for those that cannot run. */
export function preparePeers(profiles: readonly PeerProfile[]): Map<string, string> {
  const failures = installPeers([...new Set(profiles.map((p) => p.peer))]);
  return new Map(profiles.filter((p) => failures.has(p.peer)).map((p) => [p.name, failures.get(p.peer)!]));
}

export interface StartedPeer {
  readonly child: ChildProcess;
  readonly url: string;
  /** The client's body rewrite: the route's model name becomes the engines'. */
  readonly rewriteBody: (body: string) => string;
}

export async function startPeer(
  profile: PeerProfile,
  engines: readonly { readonly port: number }[],
  model: { readonly route: string; readonly engine: string; readonly adapters: readonly string[] },
  dir: string,
  freePort: () => Promise<number>,
): Promise<StartedPeer> {
  const workers = engines.map((e) => ({ model: model.engine, url: `http://127.0.0.1:${e.port}` }));
  const ports = await Promise.all(Array.from({ length: portsNeeded(profile.peer, workers) }, () => freePort()));
  const extraArgs = profile.peer === 'smg' ? model.adapters.flatMap((a) => ['--model-alias', `${a}=${model.engine}`]) : [];
  const [instance] = peerInstances(profile.peer, { policy: profile.policy, workers, ports, workDir: dir, pin: [], extraArgs });
  const logPath = join(dir, `${instance.name}.log`);
  const log = openSync(logPath, 'a');
  const [file, ...args] = instance.command;
  const child = spawn(file, args, { cwd: dir, stdio: ['ignore', log, log] });
  closeSync(log);
  const url = `http://127.0.0.1:${instance.port}`;
  // Ready when it lists the engines' model (SMG discovers its workers in the background after it listens).
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${profile.name} exited (${child.exitCode}); log:\n${readFileSync(logPath, 'utf8').slice(-2000)}`);
    try {
      const res = await fetch(`${url}/v1/models`);
      if (res.status === 200 && (await res.text()).includes(model.engine)) {
        const routeModel = `{"model":${JSON.stringify(model.route)},`;
        const engineModel = `{"model":${JSON.stringify(model.engine)},`;
        return { child, url, rewriteBody: (body) => (body.startsWith(routeModel) ? engineModel + body.slice(routeModel.length) : body) };
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill('SIGKILL');
  throw new Error(`${profile.name} did not list ${model.engine} within 60 s; log:\n${readFileSync(logPath, 'utf8').slice(-2000)}`);
}
