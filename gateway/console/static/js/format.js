// How figures read: money in its own currency (never converted), dates and waits.

export function money(amount, currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).format(Number(amount));
  } catch {
    return `${currency} ${amount}`;
  }
}

export function dateTime(iso) {
  return new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

export function day(iso) {
  return iso ? new Date(`${iso}T00:00:00Z`).toLocaleDateString("en-GB", { dateStyle: "medium", timeZone: "UTC" }) : "none";
}

export function hours(value) {
  if (value < 1) return "under an hour";
  if (value < 48) return `${Math.floor(value)} h`;
  return `${Math.floor(value / 24)} d ${Math.floor(value % 24)} h`;
}

export const statusLabel = (status) => status.replaceAll("_", " ");

export const count = (number, one, many = `${one}s`) => `${number} ${number === 1 ? one : many}`;
