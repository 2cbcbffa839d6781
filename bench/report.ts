// The bench's table: a figure's spread and the row it becomes, next to its baseline and budget.
export interface Stats {
  median: number;
  p10: number;
  p90: number;
  n: number;
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))] as number;
  return { median: at(0.5), p10: at(0.1), p90: at(0.9), n: s.length };
}

export interface Row {
  figure: string;
  median: number;
  p10: number;
  p90: number;
  baseline: string;
  budget: string;
  pass: boolean;
  note?: string;
}
