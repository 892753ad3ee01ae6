// Reading a process tree's CPU time and peak memory from /proc (Linux only).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second, the unit of utime/stime in /proc/PID/stat (nearly always 100). */
export const CLOCK_TICKS_PER_SECOND = ((): number => {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
})();

interface StatFields {
  readonly ppid: number;
  /** utime + cutime and stime + cstime, in clock ticks: the process (all threads) and its reaped children. */
  readonly userTicks: number;
  readonly systemTicks: number;
}

function readStat(pid: number): StatFields | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // gone
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); field N is fields[N - 3].
  const num = (field: number): number => Number(fields[field - 3]);
  return { ppid: num(4), userTicks: num(14) + num(16), systemTicks: num(15) + num(17) };
}

/** `pid` and every live descendant (nginx: the master and its workers). */
export function processTree(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const child = Number(entry);
    if (!Number.isInteger(child) || child <= 0) continue;
    const stat = readStat(child);
    if (stat !== null) parentOf.set(child, stat.ppid);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

export interface CpuTime {
  readonly userS: number;
  readonly systemS: number;
}

/** CPU seconds used so far by `pid` and its descendants, split into user and system (kernel) time. */
export function treeCpuTime(pid: number): CpuTime {
  let user = 0;
  let system = 0;
  for (const member of processTree(pid)) {
    const stat = readStat(member);
    user += stat?.userTicks ?? 0;
    system += stat?.systemTicks ?? 0;
  }
  return { userS: user / CLOCK_TICKS_PER_SECOND, systemS: system / CLOCK_TICKS_PER_SECOND };
}

function statusKb(pid: number, key: 'VmHWM' | 'VmRSS'): number {
  try {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]);
  } catch {
    return 0;
  }
}

/** Peak resident set size (VmHWM) in MB, summed over the process tree (nginx: master + workers). */
export function treePeakRssMb(pid: number): number {
  let kb = 0;
  for (const member of processTree(pid)) kb += statusKb(member, 'VmHWM');
  return kb / 1024;
}

/** Current resident set size (VmRSS) in MB, summed over the process tree. */
export function treeRssMb(pid: number): number {
  let kb = 0;
  for (const member of processTree(pid)) kb += statusKb(member, 'VmRSS');
  return kb / 1024;
}
