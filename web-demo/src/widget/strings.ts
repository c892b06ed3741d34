// The widget's own words in the languages the support desk answers in. The language is the
// page's `data-language`, else the browser's first supported one, else English. The bot's
// replies follow what the customer writes; these strings only frame them.

export const LANGUAGES = ['en', 'de', 'fr', 'es'] as const;
export type Language = (typeof LANGUAGES)[number];

export interface Strings {
  launcher: string;
  title: string;
  subtitle: string;
  close: string;
  greeting: string;
  placeholder: string;
  send: string;
  human: string;
  /** What "talk to a human" sends: the desk hands off on it in every language. */
  humanMessage: string;
  you: string;
  assistant: string;
  agent: string;
  typing: string;
  waiting: string;
  joined: (agent: string) => string;
  transferred: string;
  resolved: string;
  rate: string;
  star: (score: number) => string;
  thanks: string;
  newChat: string;
  offline: string;
  failed: string;
  log: string;
}

const STRINGS: Record<Language, Strings> = {
  en: {
    launcher: 'Chat with us',
    title: 'Support',
    subtitle: 'Answers from our help centre, or a person when you need one',
    close: 'Close the chat',
    greeting: 'Hello! Ask about your cards, payments, transfers, account or trading.',
    placeholder: 'Type your message…',
    send: 'Send',
    human: 'Talk to a human',
    humanMessage: 'I would like to talk to a human, please.',
    you: 'You',
    assistant: 'Assistant',
    agent: 'Agent',
    typing: 'The assistant is typing…',
    waiting: 'Waiting for an agent. You can keep writing; they will see everything.',
    joined: (agent) => `${agent} from our team is with you.`,
    transferred: 'A colleague will take over from here.',
    resolved: 'This conversation is closed.',
    rate: 'How did we do?',
    star: (score) => `${score} of 5`,
    thanks: 'Thank you for your rating.',
    newChat: 'Start a new conversation',
    offline: 'Reconnecting…',
    failed: 'That could not be sent. Please try again.',
    log: 'Conversation',
  },
  de: {
    launcher: 'Chatten Sie mit uns',
    title: 'Kundenservice',
    subtitle: 'Antworten aus unserer Hilfe oder ein Mensch, wenn Sie einen brauchen',
    close: 'Chat schließen',
    greeting: 'Hallo! Fragen Sie zu Karten, Zahlungen, Überweisungen, Konto oder Wertpapierhandel.',
    placeholder: 'Ihre Nachricht…',
    send: 'Senden',
    human: 'Mit einem Menschen sprechen',
    humanMessage: 'Ich möchte bitte mit einem Menschen sprechen.',
    you: 'Sie',
    assistant: 'Assistent',
    agent: 'Mitarbeiter',
    typing: 'Der Assistent schreibt…',
    waiting: 'Wir verbinden Sie mit einem Mitarbeiter. Sie können weiterschreiben.',
    joined: (agent) => `${agent} aus unserem Team ist für Sie da.`,
    transferred: 'Eine Kollegin oder ein Kollege übernimmt Ihr Anliegen.',
    resolved: 'Dieses Gespräch ist abgeschlossen.',
    rate: 'Wie zufrieden waren Sie?',
    star: (score) => `${score} von 5`,
    thanks: 'Vielen Dank für Ihre Bewertung.',
    newChat: 'Neues Gespräch beginnen',
    offline: 'Verbindung wird wiederhergestellt…',
    failed: 'Das konnte nicht gesendet werden. Bitte versuchen Sie es erneut.',
    log: 'Gespräch',
  },
  fr: {
    launcher: 'Discuter avec nous',
    title: 'Assistance',
    subtitle: 'Des réponses de notre centre d’aide, ou un conseiller si besoin',
    close: 'Fermer la discussion',
    greeting: 'Bonjour ! Posez vos questions sur vos cartes, paiements, virements, compte ou bourse.',
    placeholder: 'Votre message…',
    send: 'Envoyer',
    human: 'Parler à un humain',
    humanMessage: 'Je voudrais parler à un humain, s’il vous plaît.',
    you: 'Vous',
    assistant: 'Assistant',
    agent: 'Conseiller',
    typing: 'L’assistant écrit…',
    waiting: 'Un conseiller va vous répondre. Vous pouvez continuer à écrire.',
    joined: (agent) => `${agent} de notre équipe est avec vous.`,
    transferred: 'Un collègue prend le relais.',
    resolved: 'Cette conversation est terminée.',
    rate: 'Êtes-vous satisfait ?',
    star: (score) => `${score} sur 5`,
    thanks: 'Merci pour votre note.',
    newChat: 'Nouvelle conversation',
    offline: 'Reconnexion…',
    failed: 'L’envoi a échoué. Veuillez réessayer.',
    log: 'Conversation',
  },
  es: {
    launcher: 'Chatea con nosotros',
    title: 'Atención al cliente',
    subtitle: 'Respuestas de nuestro centro de ayuda, o una persona cuando la necesites',
    close: 'Cerrar el chat',
    greeting: '¡Hola! Pregunta por tus tarjetas, pagos, transferencias, cuenta o inversiones.',
    placeholder: 'Escribe tu mensaje…',
    send: 'Enviar',
    human: 'Hablar con un humano',
    humanMessage: 'Quisiera hablar con un humano, por favor.',
    you: 'Tú',
    assistant: 'Asistente',
    agent: 'Agente',
    typing: 'El asistente está escribiendo…',
    waiting: 'Te pondremos con un agente. Puedes seguir escribiendo.',
    joined: (agent) => `${agent}, de nuestro equipo, te atiende.`,
    transferred: 'Un compañero continuará a partir de aquí.',
    resolved: 'Esta conversación está cerrada.',
    rate: '¿Cómo lo hicimos?',
    star: (score) => `${score} de 5`,
    thanks: 'Gracias por tu valoración.',
    newChat: 'Empezar una nueva conversación',
    offline: 'Reconectando…',
    failed: 'No se pudo enviar. Inténtalo de nuevo.',
    log: 'Conversación',
  },
};

/** The first of `preferred` (BCP 47 tags such as `de-AT`) that the widget speaks, or English. */
export function pickLanguage(preferred: readonly string[]): Language {
  for (const tag of preferred) {
    const base = tag.toLowerCase().split('-')[0];
    const found = LANGUAGES.find((language) => language === base);
    if (found) return found;
  }
  return 'en';
}

export function strings(language: Language): Strings {
  return STRINGS[language];
}
