// History-API routing: /, /rooms/<id>, /invite/<token>, /setup/<token>, /admin. Same-origin links are handled in place.
let handler = () => {};

/** Set the function that renders the current location. */
export function setRouteHandler(fn) {
  handler = fn;
  window.addEventListener('popstate', () => handler());
  document.addEventListener('click', (e) => {
    const a = e.target instanceof Element ? e.target.closest('a[href]') : null;
    if (!a || a.target || a.hasAttribute('download') || e.button !== 0) return;
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !a.hasAttribute('data-route')) return;
    e.preventDefault();
    navigate(url.pathname);
  });
}

/** Go to a client path and render it. */
export function navigate(path, replace = false) {
  if (path !== location.pathname) {
    if (replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
  }
  handler();
}

/** Parse the current path into {name, param}. */
export function currentRoute() {
  const path = location.pathname;
  let m = /^\/rooms\/([^/]+)\/?$/.exec(path);
  if (m) return { name: 'room', param: decodeURIComponent(m[1]) };
  m = /^\/(invite|setup)\/([^/]+)\/?$/.exec(path);
  if (m) return { name: m[1], param: decodeURIComponent(m[2]) };
  if (/^\/admin\/?$/.test(path)) return { name: 'admin', param: null };
  return { name: 'home', param: null };
}
