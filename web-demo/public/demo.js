// The demo bank page's script (see demo.html): a file, as the page's CSP allows no inline script.
// The demo's customer and language come from the query string (?user=bob&lang=de); a real
// site writes the tag itself, with data-token-url naming its own token endpoint.
const params = new URLSearchParams(location.search);
const form = document.getElementById('who');
form.user.value = params.get('user') || 'alice';
form.lang.value = params.get('lang') || '';
form.addEventListener('change', () => {
  const next = new URLSearchParams({ user: form.user.value });
  if (form.lang.value) next.set('lang', form.lang.value);
  location.search = next.toString();
});
const tag = document.createElement('script');
tag.src = '/widget.js';
tag.dataset.devUser = form.user.value;
if (form.lang.value) tag.dataset.language = form.lang.value;
document.body.append(tag);
document.getElementById('contact').addEventListener('click', () => window.FinpulseWidget.open());
