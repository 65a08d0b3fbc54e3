// A shared "now" that ticks every 5 s so relative times stay current.
import { ref } from 'vue';

export const now = ref(new Date());
setInterval(() => (now.value = new Date()), 5000);
