// The signed-in user: the pasted token, kept in sessionStorage (gone when the tab closes).
// The claims are read here only to label the page; the server verifies the token on every call.

const TOKEN_KEY = "party-engine.token";

function decodeClaims(token) {
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

/** {token, userId, role} from a token's claims, or null when it cannot be read or has expired. */
export function userOf(token) {
  const claims = decodeClaims(token);
  if (!claims || typeof claims.sub !== "string") return null;
  if (typeof claims.exp === "number" && claims.exp * 1000 < Date.now()) return null;
  return { token, userId: claims.sub, role: claims.role === "host" ? "host" : "shopper" };
}

export function currentUser() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? userOf(token) : null;
}

export function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}
