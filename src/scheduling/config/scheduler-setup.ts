// Builds the scheduler the router runs: the framework picker with the profile from the router configuration file
// (or the defaults), and the file's hot reload. A reload that fails validation changes nothing: the last good
// profile keeps scheduling.
import type { ConfigIssue } from '../../resources/types.ts';
import { FrameworkPicker, type FrameworkPickerOptions } from '../framework/framework-picker.ts';
import type { PluginEnv } from '../framework/types.ts';
import { buildProfile } from './build-profile.ts';
import { defaultSchedulerConfig } from './router-config.ts';
import { RouterConfigWatcher } from './router-config-watcher.ts';

export interface SchedulerSetupOptions {
  /** Kthena-format router configuration file; absent: the defaults. */
  readonly routerConfigFile?: string;
  readonly reloadDebounceMs: number;
  readonly env: PluginEnv;
  readonly onPluginError?: FrameworkPickerOptions['onPluginError'];
  readonly maxInFlightPerPod?: number;
}

export interface ReloadEvent {
  readonly accepted: boolean;
  /** Errors when rejected; warnings either way. */
  readonly issues: readonly ConfigIssue[];
}

export type SchedulerSetup =
  | {
      readonly ok: true;
      readonly picker: FrameworkPicker;
      /** Warnings of the file as loaded at start. */
      readonly issues: readonly ConfigIssue[];
      /** Watches the file (no-op without one); `onReload` hears about every reload attempt. Resolves when watching. */
      watch(onReload: (event: ReloadEvent) => void): Promise<void>;
      close(): Promise<void>;
    }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

export async function setUpScheduler(options: SchedulerSetupOptions): Promise<SchedulerSetup> {
  const { env } = options;
  const pickerOptions: FrameworkPickerOptions = {
    podStates: env.podStates,
    random: env.random,
    onPluginError: options.onPluginError,
    observer: env.observer,
    maxInFlightPerPod: options.maxInFlightPerPod,
  };
  if (options.routerConfigFile === undefined) {
    const picker = new FrameworkPicker(buildProfile(defaultSchedulerConfig(), env), pickerOptions);
    return { ok: true, picker, issues: [], watch: () => Promise.resolve(), close: () => Promise.resolve() };
  }
  const watcher = new RouterConfigWatcher(options.routerConfigFile, options.reloadDebounceMs);
  const first = await watcher.load();
  if (!first.ok) return { ok: false, issues: first.issues };
  const picker = new FrameworkPicker(buildProfile(first.config, env), pickerOptions);
  return {
    ok: true,
    picker,
    issues: first.issues,
    watch(onReload) {
      return watcher.watch((result) => {
        if (result.ok) picker.setProfile(buildProfile(result.config, env, picker.profile));
        onReload({ accepted: result.ok, issues: result.issues });
      });
    },
    close: () => watcher.close(),
  };
}
