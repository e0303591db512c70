import { U128_MAX } from './bytes.js';

/**
 * A forwarding rate. A node that forwards a payment arriving from friend P charges, with the
 * rate it set for P, `fee = floor(amount * mul / 2^32) + add`, where `amount` is the amount
 * the destination receives (fees are charged on the destination amount, not compounded).
 * Both the payment core and the index server's route rate use these functions, so a route's
 * advertised fee is exactly what the hops charge.
 */
export interface Rate {
  readonly mul: number; // u32
  readonly add: number; // u32
}

export const ZERO_RATE: Rate = { mul: 0, add: 0 };
const TWO_POW_32 = 1n << 32n;

export function isValidRate(rate: Rate): boolean {
  return (
    Number.isInteger(rate.mul) && rate.mul >= 0 && rate.mul <= 0xffffffff &&
    Number.isInteger(rate.add) && rate.add >= 0 && rate.add <= 0xffffffff
  );
}

/** The fee for forwarding `amount`; null if it would not fit in a u128. */
export function calcFee(rate: Rate, amount: bigint): bigint | null {
  const fee = (amount * BigInt(rate.mul)) / TWO_POW_32 + BigInt(rate.add);
  return fee > U128_MAX ? null : fee;
}

/** Sum of the fees every forwarder on a route charges for `amount`; null on u128 overflow. */
export function routeFee(forwarderRates: readonly Rate[], amount: bigint): bigint | null {
  let total = 0n;
  for (const rate of forwarderRates) {
    const fee = calcFee(rate, amount);
    if (fee === null) return null;
    total += fee;
    if (total > U128_MAX) return null;
  }
  return total;
}

/**
 * The largest destination amount `x` such that `x + routeFee(rates, x) <= capacity`, i.e. what a
 * route whose narrowest hop carries `capacity` can deliver. Binary search over the exact fee
 * function, so per-hop flooring is honoured.
 */
export function maxPayable(forwarderRates: readonly Rate[], capacity: bigint): bigint {
  let low = 0n;
  let high = capacity;
  const fits = (x: bigint): boolean => {
    const fee = routeFee(forwarderRates, x);
    return fee !== null && x + fee <= capacity;
  };
  if (!fits(0n)) return 0n;
  while (low < high) {
    const mid = (low + high + 1n) / 2n;
    if (fits(mid)) low = mid;
    else high = mid - 1n;
  }
  return low;
}
