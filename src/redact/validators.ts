/** Shannon entropy in bits per character (as gitleaks' `shannonEntropy`, over UTF-16 code units). */
export function shannonEntropy(text: string): number {
  const n = text.length;
  if (n === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const k of counts.values()) {
    const p = k / n;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Luhn (mod 10) check over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

export function hasDigit(s: string): boolean {
  return /[0-9]/.test(s);
}

export function hasLower(s: string): boolean {
  return /[a-z]/.test(s);
}

export function hasUpper(s: string): boolean {
  return /[A-Z]/.test(s);
}

/**
 * Entropy a random token drawn from a 64-symbol alphabet clears with room to spare, by length.
 * A string of length L cannot exceed log2(L) bits/char, so a fixed 4.5 (detect-secrets' base64
 * limit) would never fire below 23 characters; this follows log2(L) down for short tokens.
 */
export function base64EntropyThreshold(length: number): number {
  return Math.max(3.5, Math.min(4.5, Math.log2(length) - 0.7));
}
