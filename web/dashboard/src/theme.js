// Light and dark themes: the system's preference (prefers-color-scheme) unless the reader
// picked one with the toggle; the choice is remembered in localStorage. The resolved theme is
// set as <html data-theme="light|dark">, which the stylesheets and the charts read.
const KEY = 'tokengrid-theme';
const CHOICES = ['auto', 'light', 'dark'];
const listeners = [];
const media = window.matchMedia('(prefers-color-scheme: dark)');

function storedChoice() {
  try {
    const value = localStorage.getItem(KEY);
    return CHOICES.includes(value) ? value : 'auto';
  } catch {
    return 'auto';  // storage refused (a file:// page in some browsers)
  }
}

let choice = storedChoice();

export function resolvedTheme() {
  return choice === 'auto' ? (media.matches ? 'dark' : 'light') : choice;
}

function apply() {
  document.documentElement.dataset.theme = resolvedTheme();
  for (const button of document.querySelectorAll('[data-theme-toggle]')) {
    button.textContent = `theme: ${choice}`;
    button.title = 'Switch between the system theme, light and dark';
  }
  for (const listener of listeners) listener(resolvedTheme());
}

export function setTheme(next) {
  choice = CHOICES.includes(next) ? next : 'auto';
  try {
    localStorage.setItem(KEY, choice);
  } catch {
    // the choice then lasts for this page only
  }
  apply();
}

export function onThemeChange(listener) {
  listeners.push(listener);
}

// Wires every [data-theme-toggle] button and applies the theme now.
export function initTheme() {
  for (const button of document.querySelectorAll('[data-theme-toggle]')) {
    button.addEventListener('click', () => setTheme(CHOICES[(CHOICES.indexOf(choice) + 1) % CHOICES.length]));
  }
  media.addEventListener('change', () => {
    if (choice === 'auto') apply();
  });
  apply();
}
